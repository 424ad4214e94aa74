"""Drop-in kit: a learning platform on Flask."""
