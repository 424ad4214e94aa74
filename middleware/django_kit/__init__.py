"""Drop-in kit: a library admin module on Django."""
