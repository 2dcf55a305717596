"""The suite's harness: one of each thing many tests need (importable as ``support``:
the suite's root conftest puts ``tests/`` on the path; scripts outside pytest, such as
``bench/``, insert it themselves).

A project
    :mod:`support.project`: :func:`~support.project.new_project` makes one (cheap KDF,
    synthetic secret or a key file, the shipped form published if asked, set up by
    ``cli:tester``), and the ``project`` fixture the whole suite uses is built on it
    (``tests/conftest.py`` registers it); :func:`~support.project.reopen` opens it again,
    :func:`~support.project.init_by_cli` makes one through ``syncserver init`` for the
    command line's own tests. The store every test project uses is chosen in one
    function, :func:`~support.project.store_config`. :data:`~support.project.NOW`,
    :data:`~support.project.SECRET`, :data:`~support.project.FAST_KDF` live there too.
    :mod:`support.postgres`: a PostgreSQL schema of its own for a test.

What a device sends
    :mod:`support.bundles`: synthetic records (``make_record``) and the bundles an
    enrolled device seals of them (``seal_for``). :mod:`support.vectors`: a project
    that serves a bundle vector, and how the vector reaches it.

A device
    :mod:`support.uploader`: enrollment (online with a token, or offline) and the one
    device client, :class:`~support.uploader.DeviceClient` (aiohttp: signs, uploads,
    resumes), with its blocking twin :class:`~support.uploader.SyncDeviceClient` for
    the adversarial tests, which hypothesis drives example by example (the module says
    why it cannot be the same class).

A running server, three ways, each for a reason
    :mod:`support.server`: ``async with serve(project)``, the real app in the test's own
    event loop on 127.0.0.1 port 0, with a client session; every test that serves the
    app in-process uses it (and :func:`~support.server.listen` for a stand-in app).
    :mod:`support.thread_server`: the app in a thread with a loop of its own, for
    clients that run their own loop or block (``collector``'s command line, hypothesis
    with :class:`~support.uploader.SyncDeviceClient`).
    :mod:`support.syncserver_run`: ``syncserver run`` as a child process, for what only
    a process shows (signals, SIGKILL and restart, TLS from the command line, the
    server's own start-up and output). Each binds port 0 and reads back the port it got.

These modules are canonical (``tests/syncserver/server_helpers.py``, ``conftest.py`` and
``device_client.py`` are gone). Folder helpers build on them (``adv_harness.LiveServer``,
``fault_server.Uploader``'s retry policy, ``security_helpers.Server``); only the tests of
``init_project``, ``open_project`` and ``syncserver init`` themselves call those directly.
"""
