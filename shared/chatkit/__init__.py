"""ChatKit's server protocol over Parley: threads are conversations, turns are runs."""
