"""Generated from proto/wsg/v1/wsg.proto by scripts/gen_protos.py (`make protos`); never edit."""
