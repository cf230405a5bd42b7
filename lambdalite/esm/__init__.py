"""Event source mappings: the Lambda API's CreateEventSourceMapping & co.
(``registry``), the sources they poll (``sqs``) and the pollers that feed
functions in batches (``pollers``)."""
