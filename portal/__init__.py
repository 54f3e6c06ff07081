"""The web portal: customers' pages at ``/`` and the support team's console at
``/equipo/``. A backend-for-frontend that owns no domain data: every page is
built from the four services' REST APIs, called with the signed-in person's
own token, so every permission stays enforced where it is."""
