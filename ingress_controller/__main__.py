"""`python -m ingress_controller`: the ingress controller, in its pod (in-cluster config)."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import click

CONTROLLER = "orch.io/ingress-nginx"


@click.command()
@click.option("--controller-class", default=CONTROLLER, show_default=True,
              help="the IngressClass spec.controller this controller serves")
@click.option("--publish-service", default=None, metavar="NAMESPACE/NAME",
              help="the Service whose load balancer addresses go into each Ingress's status")
@click.option("--nginx", "nginx_binary", default="/usr/sbin/nginx", show_default=True)
@click.option("--conf-dir", default="/etc/nginx/ingress", show_default=True,
              type=click.Path(file_okay=False))
@click.option("-q", "--quiet", is_flag=True, help="log warnings only (not each reload)")
def main(controller_class: str, publish_service: str | None, nginx_binary: str, conf_dir: str,
         quiet: bool) -> None:
    """Serve the cluster's Ingresses of our class with nginx."""
    from ingress_controller.controller import IngressController, Nginx, pod_identity
    from kube.client import Client

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = Client.in_cluster(user_agent="ingress-controller")
    namespace = os.environ.get("POD_NAMESPACE") or Path(
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip()
    controller = IngressController(client, controller_class, Nginx(nginx_binary, Path(conf_dir)),
                                   publish_service, namespace, pod_identity())
    signal.signal(signal.SIGTERM, lambda *_: controller.stop())
    controller.run()


if __name__ == "__main__":
    main()
