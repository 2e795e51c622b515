"""`embedrock.langchain.EmbedrockEmbeddings` through langchain-tests'
standard suites, with the real local model."""

import numpy as np
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

import embedrock
from embedrock.langchain import EmbedrockEmbeddings


class TestEmbedrockEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self):
        return EmbedrockEmbeddings

    @property
    def embedding_model_params(self):
        return {"model": "all-minilm-l6-v2"}

    @property
    def init_from_env_params(self):
        return ({"EMBEDROCK_MODEL": "all-minilm-l6-v2", "AWS_REGION": "eu-west-1"}, {},
                {"model": "all-minilm-l6-v2", "region": "eu-west-1"})


class TestEmbedrockEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self):
        return EmbedrockEmbeddings

    @property
    def embedding_model_params(self):
        return {"model": "all-minilm-l6-v2"}


def test_queries_as_queries_documents_as_documents():
    emb = EmbedrockEmbeddings(dimensions=64)
    direct = embedrock.Embedder()
    docs = emb.embed_documents(["alpha", "beta"])
    assert isinstance(docs[0][0], float) and len(docs[0]) == 64
    want = direct.embed(["alpha", "beta"], input_type="document", dimensions=64)
    assert np.abs(np.array(docs) - want).max() <= 1e-6
    q = emb.embed_query("alpha?")
    assert np.abs(np.array(q) - direct.embed_one("alpha?", input_type="query", dimensions=64)).max() <= 1e-6
    assert emb.embed_documents([]) == []
    keyed = EmbedrockEmbeddings(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s3cr3t-value")
    assert "s3cr3t-value" not in repr(keyed) and "s3cr3t-value" not in str(keyed.model_dump())
