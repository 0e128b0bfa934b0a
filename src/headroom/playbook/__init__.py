"""The playbook: the YAML model and trigger conditions compiled from text to ibis."""
