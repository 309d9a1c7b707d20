"""A customer's data package, for their rights of access and portability (see services.py)."""
