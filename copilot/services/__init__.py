"""Writes of the copilot app, one module per concern: callers import from the module
(`copilot.services.analysis`, `copilot.services.drafts`, `copilot.services.cases`)."""
