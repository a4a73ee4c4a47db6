"""Amazon Bedrock's runtime for the one model the platform calls, which moto lacks: `models` embeds
text with a real small embedding model standing in for Titan Text Embeddings V2 (`embedder`) and
validates requests as Bedrock does; `responses` answers `bedrock-runtime` InvokeModel."""
