"""The application database (people, devices, care teams, ...): SQLAlchemy 2.

SQLite by default, PostgreSQL in production. Adapters here are the only code
that knows table names.
"""
