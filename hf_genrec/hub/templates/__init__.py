"""Card templates (Markdown with ``string.Template`` placeholders), shipped as package data."""
