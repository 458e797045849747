"""Load drivers: Locust runs of the query core (closed loop, open loop, capacity search).

They measure, never render: a run's lifecycle and its report are ``ctxbench.runs.load``.

Modules that import Locust or gevent (``process``, ``users``, ``clients``, ``courier``,
``locustfile``) are only imported inside Locust processes, because importing Locust
monkey-patches the standard library for gevent. In a Locust process: ``options`` (the
``--ctxbench-*`` options), ``clients`` (connections, lanes, one request), ``courier``
(measurements to the results owner, control to workers), ``owner`` (the results folder and the
capacity search on the master), ``process`` (roles and Locust's events), ``users`` (the User and
the shape). The rest (``settings``, ``schedule``, ``workload``, ``capacity``, ``execute``,
``sink``, ``meta``) is plain Python and safe to import anywhere.
"""
