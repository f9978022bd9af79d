#!/bin/bash
# Installs the Greengrass v2 nucleus on this instance as the thing ${thing} (labctl iot-greengrass).
set -euo pipefail
dnf install -y java-17-amazon-corretto-headless unzip
curl -fsS https://d2s8p88vqu9w66.cloudfront.net/releases/greengrass-nucleus-latest.zip -o /tmp/gg.zip
unzip -q -o /tmp/gg.zip -d /tmp/GreengrassInstaller
java -Droot=/greengrass/v2 -Dlog.store=FILE -jar /tmp/GreengrassInstaller/lib/Greengrass.jar \
  --aws-region ${region} --thing-name ${thing} --thing-policy-name ${policy} \
  --tes-role-name ${tes_role} --tes-role-alias-name ${role_alias} \
  --component-default-user ggc_user:ggc_group --provision true --setup-system-service true
