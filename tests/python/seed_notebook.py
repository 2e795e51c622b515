"""The seed notebook's boto3 code (Titan Text Embeddings V2 benchmark), run
against `embedrock serve`: only `endpoint_url` and dummy keys are added.

    EMBEDROCK_URL=http://127.0.0.1:8765 python tests/python/seed_notebook.py
"""

import json
import os

import boto3
import numpy as np

ENDPOINT = os.environ.get("EMBEDROCK_URL", "http://127.0.0.1:8765")
DUMMY = dict(region_name="us-east-1", aws_access_key_id="dummy", aws_secret_access_key="dummy")

# Create a Bedrock client
bedrock_client = boto3.client("bedrock", endpoint_url=ENDPOINT, **DUMMY)

# Create a Bedrock Runtime client
bedrock_runtime_client = boto3.client("bedrock-runtime", endpoint_url=ENDPOINT, **DUMMY)

# list all the models
all_models = [model["modelId"] for model in bedrock_client.list_foundation_models()["modelSummaries"]]
print(all_models)

# list only the Embedding models
embedding_models = [model for model in all_models if "embed" in model.lower()]
print(embedding_models)

prompt = "Amazon Bedrock supports foundation models from industry-leading providers such as \
AI21 Labs, Anthropic, Stability AI, and Amazon. Choose the model that is best suited to achieving \
your unique goals."

model_id = "amazon.titan-embed-text-v2:0"
body = json.dumps({"inputText": prompt, "dimensions": 1024, "normalize": False})
model = bedrock_runtime_client.invoke_model(modelId=model_id, body=body, accept="application/json", contentType="application/json")
response_body = json.loads(model.get("body").read())
embedding = response_body.get("embedding")
print(f"The embedding vector has {len(embedding)} values\n{embedding[0:3]+['...']+embedding[-3:]}")
print("norm (normalize=False):", np.linalg.norm(embedding))

body = json.dumps({"inputText": prompt, "dimensions": 1024, "normalize": True})
model = bedrock_runtime_client.invoke_model(modelId=model_id, body=body, accept="application/json", contentType="application/json")
response_body = json.loads(model.get("body").read())
embedding = response_body.get("embedding")
print(f"The embedding vector has {len(embedding)} values\n{embedding[0:3]+['...']+embedding[-3:]}")
print("norm (normalize=True):", np.linalg.norm(embedding))


def get_embedding(prompt):
    body = json.dumps({"inputText": prompt, "dimensions": 1024, "normalize": True})
    model = bedrock_runtime_client.invoke_model(modelId=model_id, body=body, accept="application/json", contentType="application/json")
    response_body = json.loads(model.get("body").read())
    return response_body.get("embedding")


def cosine_similarity(vec1, vec2):
    dot_product = np.dot(vec1, vec2)
    norm_vec1 = np.linalg.norm(vec1)
    norm_vec2 = np.linalg.norm(vec2)
    return dot_product / (norm_vec1 * norm_vec2)


text1 = "Python is a programming language"
text2 = "i have to go to the market"
text3 = "Its a sunny day"
text4 = "Today it may not be raining"
e1, e2, e3, e4 = (get_embedding(t) for t in (text1, text2, text3, text4))
print("cosine(text1, text2) =", cosine_similarity(e1, e2))
print("cosine(text1, text3) =", cosine_similarity(e1, e3))
print("cosine(text3, text4) =", cosine_similarity(e3, e4))
