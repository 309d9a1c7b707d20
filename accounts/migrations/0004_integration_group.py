from django.db import migrations


def create_integration_group(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("auth", "Group").objects.get_or_create(name="integration")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_user_approval_limit")]
    operations = [migrations.RunPython(create_integration_group, migrations.RunPython.noop)]
