"""The Siamese Gallery HTTP service (FastAPI): enroll, verify and identify over durable galleries.

Run it with `python -m app`; build one in code with `app.main.create_app(Settings(...))`.
"""
