"""A Starlette platform with ccaudit installed (like the cooperative platform)."""
