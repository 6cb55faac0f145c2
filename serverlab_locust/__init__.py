"""serverlab's additions to Locust, importable from any locustfile in the
repository's root (Locust puts the locustfile's folder on sys.path).

    target   the Target tab, /target/stats and PREFIX_target.csv: the chosen
             target's own figures (descriptors, accept errors, threads, memory,
             CPU), sampled from its admin /metrics while a test runs
    metrics  reading those figures from Prometheus text, without Locust
    hosts    --target-hosts: each target's URL when every model runs at once
             (bin/lab up), sent by the master to every worker as the host
"""
