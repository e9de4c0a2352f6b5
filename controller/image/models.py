"""peewee models of the image tables (schema: controller/db/migrations/m0100_image.py)."""

import peewee

from controller.db.database import BaseModel


class Image(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    name = peewee.CharField(default="")
    owner = peewee.CharField(max_length=36)
    status = peewee.CharField(max_length=16)
    visibility = peewee.CharField(max_length=16)
    protected = peewee.BooleanField(default=False)
    disk_format = peewee.CharField(max_length=16, null=True)
    container_format = peewee.CharField(max_length=16, null=True)
    min_disk = peewee.IntegerField(default=0)
    min_ram = peewee.IntegerField(default=0)
    size = peewee.BigIntegerField(default=0)  # 0 until the data is stored
    virtual_size = peewee.BigIntegerField(null=True)
    checksum = peewee.CharField(max_length=32, null=True)
    os_hash_algo = peewee.CharField(max_length=64, null=True)
    os_hash_value = peewee.CharField(max_length=128, null=True)
    location = peewee.TextField(null=True)  # where the store keeps the data
    request_id = peewee.CharField(max_length=64, null=True)
    upload_id = peewee.CharField(max_length=36, null=True)  # the upload holding SAVING
    upload_heartbeat_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()
    deleted_at = peewee.DateTimeField(null=True)

    @property
    def has_data(self) -> bool:
        return self.os_hash_value is not None


class ImageTag(BaseModel):
    image = peewee.ForeignKeyField(
        Image, column_name="image_id", on_delete="CASCADE", lazy_load=False
    )
    tag = peewee.CharField()

    class Meta:
        primary_key = peewee.CompositeKey("image", "tag")


class ImageProperty(BaseModel):
    image = peewee.ForeignKeyField(
        Image, column_name="image_id", on_delete="CASCADE", lazy_load=False
    )
    name = peewee.CharField()
    value = peewee.TextField()

    class Meta:
        primary_key = peewee.CompositeKey("image", "name")


class ImageMember(BaseModel):
    image = peewee.ForeignKeyField(
        Image, column_name="image_id", on_delete="CASCADE", lazy_load=False
    )
    member_id = peewee.CharField(max_length=36)
    status = peewee.CharField(max_length=16)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        primary_key = peewee.CompositeKey("image", "member_id")
