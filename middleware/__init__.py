"""Drop-in kits: small runnable platforms with the middleware installed as the README says."""
