"""Frozen networks: where pretrained weights come from (downloaded, converted offline, cached), the
networks shipped inside the package, and the bank of real-set features they compute."""
