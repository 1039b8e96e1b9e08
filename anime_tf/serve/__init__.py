"""The web app (`anime-tf serve`): a page and an HTTP API over a persistent job queue.

Modules: `settings` (every option, in one place), `store` (jobs in SQLite),
`cache` (results by content, bounded, least recently used out first),
`uploads` (checking what clients send), `work` (embedded inference workers),
`remote` (the same through Redis and `anime-tf worker`), `app` (FastAPI
routes; no TensorFlow), `server` (wiring and start-up).
"""
