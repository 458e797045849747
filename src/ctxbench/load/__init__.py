"""Load drivers: Locust runs of the query core (closed loop, open loop, capacity search).

Modules that import Locust (``locust_plugin``, ``locustfile``) are only imported inside Locust
processes, because importing Locust monkey-patches the standard library for gevent. The rest
(``settings``, ``schedule``, ``workload``, ``capacity``, ``execute``, ``orchestrate``) is
plain Python and safe to import anywhere.
"""
