"""An HTTPS emulator of the Salesforce REST API, Bulk API 2.0 and OAuth 2.0 endpoints."""
