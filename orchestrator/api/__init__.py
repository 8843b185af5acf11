"""The API: object types and validation (meta, core, apps, coordination, validation), what each
verb does (objects), authentication and authorization (auth), and the HTTP server (server)."""
