"""The MLB domain pack: mappings for the MLB Stats API (``mappings/``), its endpoint catalog (``endpoints.yaml``)
and its client (``client/``). See README.md here and docs/mlb.md."""
