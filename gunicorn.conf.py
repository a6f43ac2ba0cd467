"""gunicorn settings read from the working directory (``gunicorn 'wsgi:create_app()'``).

The access and error logs go through reporting.gunicorn_logger, which redacts the secrets that login,
sign-up, weekly and unsubscribe links carry in their URLs (docs/architecture.md, "Security decisions").
"""

logger_class = "reporting.gunicorn_logger.RedactingLogger"
