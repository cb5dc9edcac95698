"""HTTP emulator of HubSpot's CRM API for crmsync's demo and tests (see ``server`` and ``control``)."""
