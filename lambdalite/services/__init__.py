"""AWS-compatible services lambdalite serves beside Lambda, one package each
(its handlers, its model and its store), on the protocol layer (``lambdalite.protocol``)."""
