"""secnews serving: the command line, and (later) the BentoML service and batch scoring."""
