"""The citizen JSON API under /api/v1/me, for mobile apps: the same services and the same questionnaire
engine as the web pages, bearer sessions instead of cookies (see ``sessions``), RFC 9457 problem
details for every error, and an OpenAPI 3.1 document at /api/v1/me/openapi.json."""
