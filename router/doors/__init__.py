"""Front doors: each API surface (OpenAI Responses, Anthropic Messages, legacy completions, ...) is a
thin adapter that turns its request into a chat-completions payload for the one pipeline
(`router.pipeline.serve_chat`) and the pipeline's answer back into its own wire format."""
