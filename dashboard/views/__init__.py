"""The three views (patient, coach, nurse), their JSON API and live updates.

``dashboard.views.routes.router`` is what create_app includes.
"""
