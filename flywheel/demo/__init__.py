"""The demo and the loaders for its public data sets."""
