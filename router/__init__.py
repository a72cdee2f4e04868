"""The Switchyard gateway: FastAPI app, request pipeline and CLI."""
