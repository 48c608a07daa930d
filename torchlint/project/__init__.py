"""The project index: files, module names, summaries, the cache."""
