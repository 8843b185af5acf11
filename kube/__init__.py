"""The API's types and its client, shared by the control plane (orchestrator), the node agent
and orchctl, as Kubernetes keeps k8s.io/api and client-go apart from the API server.

What is here: the kinds, one module each with its typed model and strategy (kinds/), shared
metadata models (meta), the lookups (registry), validation and field errors, names, quantities,
selectors (the one matcher), timestamps, table cells (printing), Deployment revisions; the one
ApiError (errors); the HTTP client (client), the informer (informer), the event recorder
(events); TLS conventions shared by the API server and the agents (tls). What is never imported
here: the store, the API server, the controllers, the scheduler, the agent (import-linter holds
it: setup.cfg).
"""
