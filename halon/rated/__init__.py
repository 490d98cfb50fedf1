"""
rated: the rate() counters, synchronised across a cluster.

L{window} holds sliding-window counts, L{cluster} the UDP sync between peers,
L{backends} chooses between the two and Redis, L{service} puts them behind
the IPC socket (L{protocol}, L{ipc}) and L{control} answers halonctl.
"""
