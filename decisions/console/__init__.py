"""The risk analysts' alert console, served by ``verdict serve`` at ``/console``.

Alerts arrive live (server-sent events), newest first, with severity, score, reasons and the
features that explain them; an analyst filters them, opens one to see the customer's recent
activity (pseudonymised) and marks it fraud or legitimate, which sends a label with
``source: analyst`` to the ``labels`` topic so the models learn from it within seconds.

- :mod:`decisions.console.books`: the bounded in-memory alerts and activity;
- :mod:`decisions.console.follower`: the console's own reader of the topics;
- :mod:`decisions.console.web`: the routes, added to the API's application;
- ``static/``: the page (plain HTML, CSS and a small script; no build step, nothing external).
"""

from decisions.console.web import Console

__all__ = ["Console"]
