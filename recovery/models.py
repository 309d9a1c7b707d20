# Recovery actions, approvals and the override audit arrive with their own models.
