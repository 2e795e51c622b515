"""SigV4 as AWS checks it: the body received must be the body signed, and the
credential scope must name a region the server serves. Requests are signed
with botocore's own SigV4 signer and sent with urllib, so the body can be
swapped after signing."""

import json
import urllib.error
import urllib.request

import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import clients

PATH = "/model/amazon.titan-embed-text-v2:0/invoke"
SIGNED_BODY = json.dumps({"inputText": "the body that was signed"}).encode()
OTHER_BODY = json.dumps({"inputText": "a different body"}).encode()


def signed_request(url, body, region="us-east-1", payload_hash=None):
    """A POST to the invoke route signed by botocore over `body`."""
    req = AWSRequest(method="POST", url=url + PATH.replace(":", "%3A"), data=body,
                     headers={"Content-Type": "application/json"})
    if payload_hash is not None:
        req.headers["X-Amz-Content-SHA256"] = payload_hash
    SigV4Auth(Credentials("AKIDTEST", "dummy-secret"), "bedrock", region).add_auth(req)
    return req


def send(req, body):
    """Sends a prepared request with `body` in place of the one signed; the
    status, the headers (looked up without regard to case) and the JSON body."""
    prepared = req.prepare()
    headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    out = urllib.request.Request(prepared.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(out) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


@pytest.fixture
def sigv4(start):
    return start("--auth", "sigv4", "--credential", "AKIDTEST:dummy-secret")


def test_signed_body_is_accepted(sigv4):
    status, _, body = send(signed_request(sigv4.url, SIGNED_BODY), SIGNED_BODY)
    assert status == 200, body
    assert len(body["embedding"]) == 1024


@pytest.mark.parametrize("swapped", [OTHER_BODY, SIGNED_BODY + b" ", b""])
def test_swapped_body_is_refused(sigv4, swapped):
    status, headers, body = send(signed_request(sigv4.url, SIGNED_BODY), swapped)
    assert status == 403, body
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert body["message"].startswith("The request signature we calculated does not match")


def test_unsigned_payload_is_refused(sigv4):
    req = signed_request(sigv4.url, SIGNED_BODY, payload_hash="UNSIGNED-PAYLOAD")
    status, headers, body = send(req, SIGNED_BODY)
    assert status == 403, body
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_swapped_body_raises_the_boto3_exception(sigv4):
    # The same refusal through boto3: swap the body after botocore signed it.
    _, rt = clients(sigv4.url)

    def swap(request, **_):
        request.body = OTHER_BODY
        request.headers["Content-Length"] = str(len(OTHER_BODY))

    rt.meta.events.register_last("before-send.bedrock-runtime.InvokeModel", swap)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        rt.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=SIGNED_BODY)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_credential_scope_region_is_checked(start):
    s = start("--auth", "sigv4", "--credential", "AKIDTEST:dummy-secret")
    status, headers, body = send(signed_request(s.url, SIGNED_BODY, region="xx-fake-1"), SIGNED_BODY)
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "xx-fake-1" in body["message"]
    _, rt = clients(s.url, region="eu-west-3")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        rt.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=SIGNED_BODY)
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_configured_regions_are_accepted(start, tmp_path):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("regions: [eu-west-3]\n")
    s = start("--config", str(cfg), "--auth", "sigv4", "--credential", "AKIDTEST:dummy-secret")
    for region in ["us-east-1", "eu-west-3"]:
        _, rt = clients(s.url, region=region)
        out = rt.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=SIGNED_BODY)
        assert len(json.loads(out["body"].read())["embedding"]) == 1024
