"""Framework glue over the WSGI capture middleware: Flask (``ccaudit.integrations.flask``) and Django
(``ccaudit.integrations.django``). Import the one your platform uses; the base package imports neither.
"""
