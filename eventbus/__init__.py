"""Salesforce's Pub/Sub API (``eventbus.v1``): ``pubsub_api.proto`` and its generated, committed
Python stubs. crmsync imports them only in ``sync.clients.pubsub``; the sandbox serves them."""
