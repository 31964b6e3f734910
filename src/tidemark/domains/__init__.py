"""Domain packs: the mappings of one API (``mappings/*.yaml``, addressed as ``<domain>:<name>``) and its client."""
