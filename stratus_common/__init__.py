"""What the controller and the compute node both need: errors, configuration loading, key and
certificate-lifetime helpers, image inspection. Imports neither of them."""
