"""The semantic model: abstract values across modules, training contexts, frequency."""
