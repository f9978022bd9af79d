# The lab's local "bucket": a folder tree on this machine standing in for S3/GCS/DBFS.
#
# The path lives in `triggers` so the destroy-time provisioner can read it back from state
# (`self.triggers.path`): destroy provisioners may only reference `self`.

resource "null_resource" "bucket" {
  triggers = {
    path   = var.bucket_root
    run_id = var.run_id
  }

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    # The path goes in through the environment, never interpolated into the script, so spaces or
    # quotes in it cannot change the command. Every folder is spelled out: /bin/sh has no
    # brace expansion.
    environment = {
      LABCTL_BUCKET = self.triggers.path
    }
    command = <<-EOT
      set -eu
      mkdir -p \
        "$LABCTL_BUCKET/data" \
        "$LABCTL_BUCKET/models" \
        "$LABCTL_BUCKET/output" \
        "$LABCTL_BUCKET/monitoring" \
        "$LABCTL_BUCKET/checkpoints" \
        "$LABCTL_BUCKET/tmp"
    EOT
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "-c"]
    environment = {
      LABCTL_BUCKET = self.triggers.path
    }
    # Guard: refuse an empty path, "/", or anything that is only slashes and dots ("//", "/.");
    # refuse relative paths too. Only then remove the folder.
    command = <<-EOT
      set -eu
      stripped=$(printf '%s' "$LABCTL_BUCKET" | tr -d '/.')
      if [ -z "$LABCTL_BUCKET" ] || [ -z "$stripped" ]; then
        echo "labctl: refusing to remove bucket path '$LABCTL_BUCKET'" >&2
        exit 1
      fi
      case "$LABCTL_BUCKET" in
        /*) ;;
        *) echo "labctl: refusing to remove relative bucket path '$LABCTL_BUCKET'" >&2; exit 1 ;;
      esac
      rm -rf -- "$LABCTL_BUCKET"
    EOT
  }
}
