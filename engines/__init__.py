"""Engine adapters behind one protocol: llama.cpp in-process, OpenAI-compatible HTTP, litellm."""

from engines.base import Engine, EngineError, EngineRequest

__all__ = ["Engine", "EngineError", "EngineRequest"]
