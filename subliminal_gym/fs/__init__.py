"""SubliminalFS-v0: API-style file tools, task families and the hidden deletion audit."""
